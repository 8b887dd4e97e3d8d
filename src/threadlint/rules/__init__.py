"""The rule registry: every rule threadlint knows, in code order."""

from typing import List, Type

from threadlint.catalog import ENGINE_CODES, SYNTAX_ERROR_CODE, UNUSED_NOQA_CODE
from threadlint.rules.base import Rule
from threadlint.rules.tl101_thread_args_not_tuple import ThreadArgsNotTuple
from threadlint.rules.tl102_thread_target_called import ThreadTargetCalled
from threadlint.rules.tl103_thread_run_called import ThreadRunCalled
from threadlint.rules.tl201_thread_never_joined import ThreadNeverJoined
from threadlint.rules.tl202_executor_not_shutdown import ExecutorNotShutdown
from threadlint.rules.tl203_daemon_set_after_start import DaemonSetAfterStart
from threadlint.rules.tl204_thread_started_twice import ThreadStartedTwice
from threadlint.rules.tl205_executor_future_ignored import ExecutorFutureIgnored
from threadlint.rules.tl301_unlocked_global_mutation import UnlockedGlobalMutation
from threadlint.rules.tl302_lock_created_inline import LockCreatedInline
from threadlint.rules.tl303_acquire_without_try_finally import AcquireWithoutTryFinally
from threadlint.rules.tl304_lock_local_to_thread import LockLocalToThread
from threadlint.rules.tl305_unguarded_shared_state import UnguardedSharedState
from threadlint.rules.tl306_shared_check_then_act import SharedCheckThenAct
from threadlint.rules.tl311_guarded_by_violation import GuardedByViolation
from threadlint.rules.tl312_lock_not_held import LockNotHeld
from threadlint.rules.tl401_lock_order_inversion import LockOrderInversion
from threadlint.rules.tl402_non_reentrant_reacquire import NonReentrantReacquire
from threadlint.rules.tl403_wait_not_in_loop import WaitNotInLoop
from threadlint.rules.tl404_condition_not_held import ConditionNotHeld
from threadlint.rules.tl501_deprecated_threading_alias import DeprecatedThreadingAlias
from threadlint.rules.tl900_unused_noqa import UnusedNoqa
from threadlint.rules.tl999_syntax_error import SyntaxErrorRule

__all__ = ["ALL_RULES", "ENGINE_CODES", "SYNTAX_ERROR_CODE", "UNUSED_NOQA_CODE", "Rule"]

ALL_RULES: List[Type[Rule]] = [
    ThreadArgsNotTuple,
    ThreadTargetCalled,
    ThreadRunCalled,
    ThreadNeverJoined,
    ExecutorNotShutdown,
    DaemonSetAfterStart,
    ThreadStartedTwice,
    ExecutorFutureIgnored,
    UnlockedGlobalMutation,
    LockCreatedInline,
    AcquireWithoutTryFinally,
    LockLocalToThread,
    UnguardedSharedState,
    SharedCheckThenAct,
    GuardedByViolation,
    LockNotHeld,
    LockOrderInversion,
    NonReentrantReacquire,
    WaitNotInLoop,
    ConditionNotHeld,
    DeprecatedThreadingAlias,
    UnusedNoqa,
    SyntaxErrorRule,
]

RULES_BY_CODE = {rule.code: rule for rule in ALL_RULES}
