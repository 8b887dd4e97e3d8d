"""The semantic model: each provider on small snippets, and the contract
between the engine, the providers and the rules."""

from __future__ import annotations

import textwrap
from typing import List

import libcst as cst
import pytest

from threadlint import engine
from threadlint.api import LOGGING_HANDLERS
from threadlint.engine import lint_source, model_for
from threadlint.model import (
    Acquires,
    Classes,
    Fates,
    Flow,
    LocalLocks,
    Locks,
    MissingFact,
    Mutations,
    Names,
    Provider,
    Threads,
    Values,
    closure,
)
from threadlint.rules import ALL_RULES
from threadlint.rules.base import Rule
from threadlint.settings import Settings


def build(source: str, *kinds: type) -> engine.Model:
    return model_for(textwrap.dedent(source), *kinds)


def functions(model: engine.Model) -> dict:
    return {node.name.value: node for node in model[Names].functions}


def classes(model: engine.Model) -> dict:
    return {node.name.value: node for node in model[Names].classes}


def calls(model: engine.Model, name: str) -> List[cst.Call]:
    """Every call of ``name(...)`` or ``x.name(...)``, in source order."""
    found: List[cst.Call] = []
    recording = model[Names].recording
    for node, leaving in zip(recording.nodes, recording.leaving):
        if leaving or type(node) is not cst.Call:
            continue
        func = node.func
        spelt = func.attr.value if isinstance(func, cst.Attribute) else getattr(func, "value", None)
        if spelt == name:
            found.append(node)
    return found


# -- names ----------------------------------------------------------------------
def test_names_resolve_imports_aliases_and_shadowing() -> None:
    model = build("""
        import threading as th
        from threading import Thread as T
        Alias = th.Thread
        def f(Thread):
            Thread()
        th.Thread(); T(); Alias()
    """, Names)
    names = model[Names]
    resolved = [names.qualified_names(call.func) for call in calls(model, "Thread")]
    assert resolved == [frozenset(), frozenset({"threading.Thread"})]  # the parameter shadows
    assert names.resolves_to(calls(model, "T")[0].func, ["threading.Thread"]) == "threading.Thread"
    assert names.qualified_names(calls(model, "Alias")[0].func) == {"threading.Thread"}


def test_names_count_reads_of_a_global_in_a_function() -> None:
    model = build("""
        flag = False
        def setter():
            global flag
            flag = True
        def checker():
            global flag
            if not flag:
                flag = True
    """, Names)
    names, funcs = model[Names], functions(model)
    assert names.loads_in(funcs["setter"], "flag") == 0
    assert names.loads_in(funcs["checker"], "flag") == 1


# -- classes --------------------------------------------------------------------
def test_classes_lookup_follows_c3_order_and_ignores_metaclass_keywords() -> None:
    model = build("""
        import threading
        class Meta(type): pass
        class Base:
            def run(self): pass
        class Left(Base): pass
        class Right(Base):
            def run(self): pass
        class Both(Left, Right, metaclass=Meta): pass
        class Worker(threading.Thread): pass
        class Sub(Worker): pass
    """, Classes)
    found, cls = model[Classes], classes(model)
    assert found.local_bases(cls["Both"]) == [cls["Left"], cls["Right"]]
    assert [c.name.value for c in found.mro(cls["Both"])] == ["Both", "Left", "Right", "Base"]
    assert found.lookup(cls["Both"], "run") is model[Names].method(cls["Right"], "run")
    assert found.thread_classes == {cls["Worker"]: "thread", cls["Sub"]: "thread"}
    assert set(found.family(cls["Left"])) == {cls["Left"], cls["Base"], cls["Both"], cls["Right"]}


# -- values ---------------------------------------------------------------------
def test_values_know_an_object_only_when_every_binding_agrees() -> None:
    model = build("""
        import threading
        from concurrent.futures import ThreadPoolExecutor
        lock = threading.RLock()
        maybe = threading.Lock()
        maybe = make_lock()
        pool = ThreadPoolExecutor()
        pool.submit(print); lock.acquire(); maybe.acquire()
    """, Values)
    values = model[Values]
    receivers = [call.func.value for call in calls(model, "acquire")]
    assert [values.lock_kind(r) for r in receivers] == ["rlock", None]
    assert values.is_executor(calls(model, "submit")[0].func.value)


# -- locks ----------------------------------------------------------------------
def test_locks_are_held_in_with_bodies_and_acquire_regions_not_in_nested_defs() -> None:
    model = build("""
        import threading
        lock = threading.Lock()
        def f():
            with lock:
                a = 1
                def inner():
                    b = 2
            lock.acquire()
            c = 3
            lock.release()
            d = 4
    """, Locks)
    locks = model[Locks]
    held = {}
    for node in model[Names].recording.nodes:
        if type(node) is cst.SimpleStatementLine and isinstance(node.body[0], cst.Assign):
            held[node.body[0].targets[0].target.value] = locks.held_at(node)
    assert held == {"lock": (), "a": ("lock",), "b": (), "c": ("lock",), "d": ()}


# -- threads --------------------------------------------------------------------
def test_threads_find_entries_and_reach_helpers_unless_called_under_a_lock() -> None:
    model = build("""
        import threading
        lock = threading.Lock()
        def helper(): pass
        def guarded(): pass
        def worker():
            helper()
            with lock:
                guarded()
        class Poller(threading.Thread):
            def run(self):
                self.poll()
            def poll(self): pass
        threading.Thread(target=worker).start()
    """, Threads)
    threads, funcs = model[Threads], functions(model)
    assert [entry.describe() for entry in threads.entries] == [
        "thread target 'worker'", "thread run() 'Poller.run'"]
    assert set(threads.reached(unlocked_only=False)) == {
        funcs["worker"], funcs["helper"], funcs["guarded"], funcs["run"], funcs["poll"]}
    assert funcs["guarded"] not in threads.reached(unlocked_only=True)


# -- flow and fates -----------------------------------------------------------------
def test_flow_gives_each_use_the_binding_that_reaches_it() -> None:
    model = build("""
        import threading
        def f():
            t = threading.Thread(target=print)
            t.start()
            t = threading.Thread(target=print)
            t.start()
            t.join()
    """, Flow)
    flow = model[Flow]
    defs = [d for (scope, name), ds in flow.defs.items() if name == "t" for d in ds]
    uses = [[use.node for use in flow.uses_of(d)] for d in defs]
    assert [len(u) for u in uses] == [1, 2]  # the first thread's only use is its start()


def test_fates_follow_threads_through_containers_and_attributes() -> None:
    model = build("""
        import threading
        def fan_out(jobs):
            workers = [threading.Thread(target=j) for j in jobs]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
        class Service:
            def start(self):
                self._thread = threading.Thread(target=print)
                self._thread.start()
        def leak():
            t = threading.Thread(target=print)
            t.start()
            return t
    """, Fates)
    fates = {fate.creation.node: fate for fate in model[Fates].fates}
    made = calls(model, "Thread")
    assert [(fates[c].joined, fates[c].escaped, bool(fates[c].starts)) for c in made] == [
        (True, False, True), (False, False, True), (False, True, True)]
    assert fates[made[0]].in_container and fates[made[1]].attrs[0][1] == "_thread"


def test_flow_is_not_fed_in_modules_without_a_threading_import() -> None:
    model = build("def f():\n    x = 1\n    return x\n", Fates)
    assert not model[Flow].fed and model[Flow].defs == {} and model[Fates].fates == []


# -- mutations, acquires, local locks ------------------------------------------------
def test_mutations_record_the_locks_held_where_shared_state_changes() -> None:
    model = build("""
        import threading
        lock = threading.Lock()
        hits = 0
        seen = {}
        def work(key):
            global hits
            hits += 1
            with lock:
                seen[key] = 1
            local = []
            local.append(key)
    """, Mutations)
    found = [(m.label, m.held) for m in model[Mutations].mutations]
    assert found == [("global 'hits'", ()), ("global 'seen'", ("lock",))]


def test_acquires_pair_and_protect() -> None:
    model = build("""
        import threading
        lock = threading.Lock()
        def bare():
            lock.acquire()
            work()
            lock.release()
        def safe():
            lock.acquire()
            try:
                work()
            finally:
                lock.release()
        def handoff():
            lock.acquire()
    """, Acquires)
    acquires = model[Acquires]
    judged = [(c.unit.name.value, acquires.paired(c), acquires.protected(c))
              for c in acquires.candidates]
    assert judged == [("bare", True, False), ("safe", True, True)]


def test_acquires_follow_if_branches_and_enclosing_tries() -> None:
    model = build("""
        import threading
        lock = threading.Lock()
        def nested(cond):
            locked = False
            try:
                if cond:
                    lock.acquire()
                    locked = True
                work()
            finally:
                if locked:
                    lock.release()
        def conditional(cond):
            if cond:
                lock.acquire()
            work()
            if cond:
                lock.release()
        def gated(cond):
            if cond:
                lock.acquire()
            try:
                work()
            finally:
                if cond:
                    lock.release()
    """, Acquires)
    acquires = model[Acquires]
    judged = [(c.unit.name.value, len(c.enclosing_tries), acquires.protected(c))
              for c in acquires.candidates]
    assert judged == [("nested", 1, True), ("conditional", 0, False), ("gated", 0, True)]


def test_values_know_instances_from_annotations_narrowing_and_known_attributes() -> None:
    model = build("""
        import logging
        from typing import Optional
        def f(a: logging.Handler, b: Optional[logging.StreamHandler], c, d: "logging.Handler", items):
            for e in logging.getLogger().handlers:
                pass
            for g in list(logging.root.handlers):
                pass
            for h in c.handlers:
                pass
            if isinstance(items, logging.Handler):
                use(items)
            use(items)
            return a, b, c, d, e, g, h
        class Mine(logging.FileHandler):
            def emit(self, record):
                return self
    """, Values)
    values, names = model[Values], model[Names]
    returned = names.functions[functions(model)["f"]].returns[0].value
    known = [values.instance_of(element.value, LOGGING_HANDLERS) for element in returned.elements]
    assert known == [True, True, False, False, True, True, False]
    uses = [call.args[0].value for call in calls(model, "use")]
    assert [values.instance_of(use, LOGGING_HANDLERS) for use in uses] == [True, False]
    mine = names.functions[functions(model)["emit"]].returns[0].value
    assert values.instance_of(mine, LOGGING_HANDLERS)


def test_local_locks_tell_guarding_from_escaping() -> None:
    model = build("""
        import threading
        def guarded():
            lock = threading.Lock()
            with lock:
                pass
        def shared():
            lock = threading.Lock()
            threading.Thread(target=print, args=(lock,)).start()
    """, LocalLocks)
    locks = {lock.scope.node.name.value: lock for lock in model[LocalLocks].locks.values()}
    assert (locks["guarded"].guarded, locks["guarded"].escapes) == (True, False)
    assert locks["shared"].escapes


# -- the contract -------------------------------------------------------------------
def test_closure_orders_dependencies_first_and_builds_only_what_is_required() -> None:
    order = closure([Threads])
    assert order.index(Names) < order.index(Classes) < order.index(Values) < order.index(Locks) \
        < order.index(Threads)
    assert Flow not in order and Fates not in order
    model = build("import threading\n", Values)
    assert Values in model and Locks not in model
    with pytest.raises(MissingFact, match="Locks"):
        model[Locks]


def test_an_unknown_hook_name_is_an_error_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match="visit_Call_func"):
        class Misspelt(Rule):
            def visit_Call_func(self, node: cst.Call) -> None:
                pass

    with pytest.raises(TypeError, match="Calls"):
        class AlsoMisspelt(Provider):
            def leave_Calls(self, node: cst.Call) -> None:
                pass


SETTINGS = Settings(root="/")


def test_a_rule_with_its_own_call_hook_changes_no_other_rules_findings(monkeypatch) -> None:
    """Once, a rule overriding ``visit_Call`` without ``super()`` before TL301
    silently cut TL301's findings on its fixture from 17 to 2."""
    from conftest import FIXTURES

    source = (FIXTURES / "TL301.py").read_bytes()
    settings = Settings(root="/", select=("TL301", "TL103"))
    before = lint_source("TL301.py", source, settings).findings

    class CallCounter(Rule):
        code = "TL103"
        name = "thread-run-called"
        summary = "counts calls"
        requires = (Threads,)

        def visit_Call(self, node: cst.Call) -> None:
            self.model[Threads]  # reads a finished fact; feeds nothing

    monkeypatch.setattr(engine, "ALL_RULES", [CallCounter] + [
        rule for rule in ALL_RULES if rule.code != "TL103"])
    after = lint_source("TL301.py", source, settings).findings
    assert len([f for f in before if f.code == "TL301"]) == 17
    assert [f for f in after if f.code == "TL301"] == [f for f in before if f.code == "TL301"]


def test_a_failing_provider_is_reported_and_only_rules_needing_it_are_skipped(monkeypatch) -> None:
    def broken(self: Mutations, node: cst.AugAssign) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(Mutations, "visit_AugAssign", broken)
    source = (b"import threading\nhits = 0\ndef work():\n    global hits\n    hits += 1\n"
              b"threading.Thread(target=work, args=(1)).start()\n")
    result = lint_source("x.py", source, Settings(root="/", select=("TL101", "TL301")))
    assert [(f.line, f.code) for f in result.findings] == [(6, "TL101")]
    messages = [str(error) for error in result.errors]
    assert messages[0].startswith("x.py: internal error in analysis (Mutations): KeyError: 'boom'")
    assert messages[1] == "x.py: TL301 (unlocked-global-mutation) skipped: the analysis it needs failed"


def test_model_modules_import_neither_the_engine_nor_the_rules() -> None:
    from pathlib import Path

    import threadlint.model

    package = Path(threadlint.model.__file__).parent
    for path in package.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for forbidden in ("threadlint.engine", "threadlint.rules", "threadlint.cli",
                          "threadlint.runner"):
            assert forbidden not in text, f"{path.name} imports {forbidden}"


def test_values_judge_sequences_and_stop_on_cyclic_names() -> None:
    model = build("""
        import threading
        pair = (1, 2)
        a = b
        b = a
        threading.Thread(target=print, args=(pair))
        threading.Thread(target=print, args=(a))
        threading.Thread(target=print, args=(base + extra))
        threading.Thread(target=print, args=(count + 1))
    """, Values)
    values = model[Values]
    judged = [values.may_be_sequence(call.args[1].value) for call in calls(model, "Thread")]
    assert judged == [True, True, True, False]


def test_only_the_providers_enabled_rules_require_are_built(monkeypatch) -> None:
    """Today's gating survives: with only TL101 enabled, no thread, flow or
    fate analysis runs at all."""
    built: List[str] = []
    for kind in (Locks, Threads, Flow, Fates, Mutations, Acquires, LocalLocks):
        original = kind.__init__

        def spy(self: Provider, model: engine.Model, _original=original) -> None:
            built.append(type(self).__name__)
            _original(self, model)

        monkeypatch.setattr(kind, "__init__", spy)
    source = b"import threading\nthreading.Thread(target=print, args=(1)).start()\n"
    only_tl101 = lint_source("x.py", source, Settings(root="/", select=("TL101",)))
    assert [f.code for f in only_tl101.findings] == ["TL101"] and built == []
    lint_source("x.py", source, Settings(root="/", select=("TL201",)))
    assert built == ["Flow", "Fates"]


def test_held_at_a_with_or_an_acquire_includes_the_lock_it_takes_last() -> None:
    model = build("""
        import threading
        a_lock = threading.Lock()
        b_lock = threading.Lock()
        def nested():
            with a_lock:
                with b_lock:
                    pass
                b_lock.acquire()
                b_lock.release()
    """, Locks)
    locks = model[Locks]
    recording = model[Names].recording
    withs = [n for n, leaving in zip(recording.nodes, recording.leaving)
             if type(n) is cst.With and not leaving]
    assert [locks.held_at(w) for w in withs] == [("a_lock",), ("a_lock", "b_lock")]
    (acquire,) = calls(model, "acquire")
    assert locks.held_at(acquire) == ("a_lock", "b_lock")


def test_a_provider_failing_mid_replay_takes_its_dependents_out_silently(monkeypatch) -> None:
    def broken(self: Locks, node: cst.With) -> None:
        raise RuntimeError("lost track")

    monkeypatch.setattr(Locks, "visit_With", broken)
    source = (b"import threading\nlock = threading.Lock()\nn = 0\ndef work():\n    global n\n"
              b"    with lock:\n        n += 1\n    n -= 1\n"
              b"threading.Thread(target=work, args=(1)).start()\n")
    result = lint_source("x.py", source, Settings(root="/", select=("TL101", "TL301", "TL304")))
    assert [(f.line, f.code) for f in result.findings] == [(9, "TL101")]
    messages = [str(error) for error in result.errors]
    assert len(messages) == 3
    assert messages[0].startswith("x.py: internal error in analysis (Locks): RuntimeError: lost track")
    assert messages[1:] == [
        "x.py: TL301 (unlocked-global-mutation) skipped: the analysis it needs failed",
        "x.py: TL304 (lock-local-to-thread) skipped: the analysis it needs failed"]


def test_attributes_record_each_change_of_self_with_its_locks() -> None:
    from threadlint.model import Attributes

    model = build("""
        import threading
        class Box:
            def __init__(self):
                self._lock = threading.Lock()
                self.items = []
            def put(self, item):
                with self._lock:
                    self.items.append(item)
                self.count += 1
                del self.cache[item]  # threadlint: benign-race
                self.last, self.first = item, None
                other.items.append(item)
                self.flush(len(self.items))
            def flush(self, n):
                pass
    """, Attributes)
    found = [(a.attr, a.kind, a.held, a.method or a.op, a.benign)
             for a in model[Attributes].accesses]
    assert found == [
        ("_lock", "write", (), None, False), ("items", "write", (), None, False),
        # the lock's own expression is read as the `with` takes it
        ("_lock", "read", ("self._lock",), None, False),
        ("items", "mutate", ("self._lock",), "append", False), ("count", "rmw", (), "+=", False),
        ("cache", "mutate", (), None, True), ("last", "write", (), None, False),
        ("first", "write", (), None, False),
        # `self.flush` is a method looked up to be called: not state
        ("items", "read", (), None, False)]
    assert [a.kind for a in model[Attributes].changes] == [
        "write", "write", "mutate", "rmw", "mutate", "write", "write"]


def test_objects_classify_concurrent_classes_and_their_code() -> None:
    from threadlint.model import Objects

    model = build("""
        import threading
        class Worker(threading.Thread):
            def run(self): self._step()
            def _step(self): pass
            def stop(self): pass
        class Guarded:
            def __init__(self):
                self._lock = threading.Lock()
                self._setup()
            def _setup(self): pass
            def add(self):
                with self._lock: pass
        class Marked:  # threadlint: thread-safe
            pass
        class Plain:
            def add(self): pass
        class Left(Guarded): pass
        class Right(Guarded): pass
    """, Objects)
    objects, cls, funcs = model[Objects], classes(model), functions(model)
    assert {c.name.value: reason for c, reason in objects.concurrent.items()} == {
        "Worker": "it is a Thread subclass", "Guarded": "it owns a lock its methods take",
        "Left": "it owns a lock its methods take", "Right": "it owns a lock its methods take",
        "Marked": "it is marked thread-safe"}
    assert objects.thread_entry(funcs["_step"]).describe() == "thread run() 'Worker.run'"
    assert objects.is_public(funcs["stop"]) and not objects.is_public(funcs["_step"])
    assert objects.in_construction(funcs["_setup"]) and not objects.in_construction(funcs["add"])
    assert objects.share_objects(cls["Left"], cls["Guarded"])
    assert not objects.share_objects(cls["Left"], cls["Right"])


def test_objects_say_whose_public_methods_other_threads_call() -> None:
    from threadlint.model import Objects

    model = build("""
        import threading, unittest
        class Monitor(threading.Thread):
            def __init__(self):
                self._lock = threading.Lock()
                self._reset()
            def _reset(self): pass
            def run(self): pass
            def record(self):
                with self._lock:
                    self._reset()
            def __setstate__(self, state):
                self._reset()
        class Peer:
            def __init__(self):
                self._lock = threading.Lock()
            async def handle(self): pass
            def send(self):
                with self._lock: pass
        class SpawnTest(unittest.TestCase):
            def setUp(self):
                self.mutex = threading.Lock()
            def spawn(self):
                with self.mutex: pass
            def test_it(self): pass
    """, Objects)
    objects, funcs = model[Objects], functions(model)
    # all reasons count, not only the first
    assert objects.concurrent[classes(model)["Monitor"]] == "it is a Thread subclass"
    assert {c.name.value for c in objects.callable_from_threads} == {"Monitor"}
    assert objects.runs_concurrently(funcs["record"])
    assert not objects.runs_concurrently(funcs["send"])  # called on its event loop
    assert not objects.runs_concurrently(funcs["test_it"])  # the runner calls tests in turn
    # construction needs no lock: every other call of `_reset` holds one
    assert objects.in_construction(funcs["__setstate__"])
    assert objects.always_locked(funcs["_reset"], guarded=True)


def test_objects_share_only_the_class_state_of_request_handlers() -> None:
    from threadlint.model import Objects

    model = build("""
        import socketserver
        class Handler(socketserver.BaseRequestHandler):
            seen = []
            def handle(self):
                self.buffer = b""
                self.seen.append(self.buffer)
        server = socketserver.ThreadingTCPServer(("", 0), Handler)
    """, Objects)
    objects, handler = model[Objects], classes(model)["Handler"]
    assert objects.concurrent[handler] == "it handles requests in threads of a threading server"
    assert objects.per_request == {handler}
    assert objects.shared_attribute((handler, "seen"))
    assert not objects.shared_attribute((handler, "buffer"))
    entry = objects.thread_entry(functions(model)["handle"])
    assert entry is not None and objects.many_at_once(entry)


def test_checks_pair_each_test_with_the_act_it_allows() -> None:
    from threadlint.model import Checks

    model = build("""
        import threading
        cache = {}
        class Box:
            def get(self, k):
                if k in self.d:
                    del self.d[k]
                if k not in cache:
                    cache[k] = 1
                if self.items:
                    self.items.pop()
                if self.conn is None:
                    with self.lock:
                        if self.conn is None:
                            self.conn = make()
                cache[k] = cache.get(k, 0) + 1
                local = {}
                if k in local:
                    del local[k]
    """, Checks)
    found = [(c.pattern, c.key, c.rechecked) for c in model[Checks].found]
    assert found == [("member", "self.d", False), ("absent", "cache", False),
                     ("nonempty", "self.items", False), ("unset", "self.conn", True),
                     ("unset", "self.conn", False), ("increment", "cache", False)]


def test_checks_see_an_early_exit_on_the_opposite_test_as_a_recheck() -> None:
    from threadlint.model import Checks

    model = build("""
        class Box:
            def poll(self):
                if self.code is None:
                    self.before = 1
                    self.code = early()
                    if self.code is not None:
                        return self.code
                    self.code = late()
            def wait(self):
                if self.code is None:
                    try:
                        if self.code is not None:
                            return self.code
                    except OSError:
                        self.code = -1
                    finally:
                        self.code = -2
            def add(self, k):
                if k not in self.seen:
                    if k in self.seen:
                        self.log(k)
                    self.seen.add(k)
                    if k in self.seen:
                        continue
                    self.seen.add(k)
    """, Checks)
    found = [(c.key, snippet_of(model, c.statement), c.rechecked) for c in model[Checks].found]
    assert found == [
        ("self.code", "self.code = early()", False), ("self.code", "self.code = late()", True),
        ("self.code", "self.code = -1", True), ("self.code", "self.code = -2", False),
        # an inner test that does not leave proves nothing
        ("self.seen", "self.seen.add(k)", False), ("self.seen", "self.seen.add(k)", True)]


def snippet_of(model, node) -> str:
    import libcst as cst
    return cst.Module(body=[]).code_for_node(node).strip()


def test_all_rules_need_one_replay_for_facts_and_one_for_rules(monkeypatch) -> None:
    """Derived providers that read fed ones are scheduled after all the fed
    providers, so one replay feeds them all."""
    replays: List[str] = []
    real = engine.dispatch

    def counting(recording, owners, cursor, failed):  # type: ignore[no-untyped-def]
        replays.append(type(owners[0]).__module__.split(".")[1])
        return real(recording, owners, cursor, failed)

    monkeypatch.setattr(engine, "dispatch", counting)
    from conftest import FIXTURES

    lint_source("TL305.py", (FIXTURES / "TL305.py").read_bytes(), Settings(root="/"))
    assert replays == ["model", "rules"]


def test_contracts_read_comments_names_and_docstrings() -> None:
    from threadlint.model import Contracts

    model = build('''
        import threading
        _big_lock = threading.Lock()
        _table = {}  # guarded-by: _big_lock
        class Store:
            def __init__(self):
                self._lock = threading.Lock()
                self._rows = []  # guarded-by: self._lock
            def _flush(self):  # requires: self._lock
                pass
            def _trim_locked(self):
                pass
            def _compact(self):
                """Must be called with _lock held."""
            def _merge(self):
                """The caller must hold `_big_lock`."""
            def close(self):
                """Must be called with ``await``: a coroutine's note, no lock."""
    ''', Contracts)
    contracts = model[Contracts]
    assert sorted((t if isinstance(t, str) else t[1], c.lock)
                  for t, c in contracts.guarded.items()) == [
        ("_rows", "self._lock"), ("_table", "_big_lock")]
    assert sorted((f.name.value, r.lock, r.said_by) for f, r in contracts.required.items()) == [
        ("_compact", "self._lock", "docstring"), ("_flush", "self._lock", "comment"),
        ("_merge", "_big_lock", "docstring"), ("_trim_locked", "*", "name")]


TL306_FIXABLE = b"""import threading


class Sessions:
    def __init__(self):
        self._lock = threading.Lock()
        self._active = {}

    def open(self, sid, session):
        with self._lock:
            self._active[sid] = session

    def close(self, sid):
        # forget it
        if sid in self._active:
            del self._active[sid]
        if sid in self._active:
            self._active.pop(sid)
        if sid in self._active:
            del self._active[sid]  # keep: a comment inside is never dropped
        if sid in self._active:
            del self._active[sid]
        else:
            pass
"""


def test_tl306_fix_rewrites_only_the_exactly_equivalent_ifs() -> None:
    settings = Settings(root="/", select=("TL306",))
    result = lint_source("s.py", TL306_FIXABLE, settings, fix=True)
    assert [f.line for f in result.fixed] == [16, 18]
    assert result.fixed_source is not None
    fixed = result.fixed_source.decode()
    assert "        # forget it\n        self._active.pop(sid, None)\n" \
           "        self._active.pop(sid, None)\n        if sid in self._active:\n" in fixed
    assert fixed.count("if sid in self._active:") == 2
    again = lint_source("s.py", result.fixed_source, settings, fix=True)
    assert again.fixed == [] and [f.line for f in again.findings] == [18, 20]


def test_a_lock_never_released_in_its_block_is_a_weak_hold() -> None:
    model = build("""
        import threading
        lock = threading.Lock()
        def gate():
            lock.acquire()
            a = 1
        def paired():
            lock.acquire()
            b = 1
            lock.release()
        def in_try():
            try:
                lock.acquire()
                c = 1
            finally:
                lock.release()
        def tested():
            if lock.acquire(False):
                try:
                    d = 1
                finally:
                    lock.release()
    """, Locks)
    locks = model[Locks]
    held = {}
    for node in model[Names].recording.nodes:
        if type(node) is cst.SimpleStatementLine and isinstance(node.body[0], cst.Assign):
            held[node.body[0].targets[0].target.value] = locks.held_at(node)
    assert held == {"lock": (), "a": ("~lock",), "b": ("lock",), "c": ("lock",), "d": ("lock",)}


def test_lock_order_identifies_locks_by_binding_and_follows_calls_on_self() -> None:
    from threadlint.model import LockOrder

    model = build("""
        import threading
        a = threading.Lock()
        b = threading.RLock()
        class Box:
            def __init__(self):
                self._lock = threading.Lock()
                self._cond = threading.Condition()
                self._on_lock = threading.Condition(self._lock)
            def put(self, other, a):
                with self._lock:
                    self._helper()
                    other._helper()
                    with a:
                        pass
            def _helper(self):
                if self._cond.acquire(timeout=1):
                    self._cond.release()
                with self._on_lock:
                    pass
        def f():
            with a:
                g()
        def g():
            b.acquire()
            b.release()
    """, LockOrder)
    order = model[LockOrder]
    found = [(edge.outer_key, edge.inner_key, [step.callee.name.value for step in edge.chain],
              order.reentrant(edge.acquisition)) for edge in order.edges]
    # the parameter `a` and `other._helper()` have no identity; acquire(timeout=) does not wait
    assert sorted(found) == [("a", "b", ["g"], True),
                             ("self._lock", "self._on_lock", ["_helper"], False)]
    box = classes(model)["Box"]
    assert order.identity(functions(model)["put"], "self._lock") == (box, "_lock")
    assert order.identity(functions(model)["f"], "a") == (None, "a")
    assert order.identity(functions(model)["put"], "a") is None  # the parameter shadows it


def test_local_executor_subclasses_are_executors() -> None:
    model = build("""
        from concurrent.futures import ThreadPoolExecutor, ProcessPoolExecutor
        class Named(ThreadPoolExecutor):
            pass
        class Deeper(Named):
            pass
        class Spawner(ProcessPoolExecutor):
            pass
        class Plain:
            pass
        a = Deeper()
        b = Spawner()
        c = Plain()
    """, Values)
    values, found = model[Values], classes(model)
    assert model[Classes].executor_classes == {found["Named"]: "thread", found["Deeper"]: "thread",
                                               found["Spawner"]: "process"}
    made = [values.executor_constructor(call) for name in ("Deeper", "Spawner", "Plain")
            for call in calls(model, name)]
    assert made == ["thread", "process", None]


def test_futures_follow_each_result_to_where_it_ends() -> None:
    from threadlint.model.futures import DROPPED, KEPT, UNUSED, Futures

    model = build("""
        from concurrent.futures import ThreadPoolExecutor
        pool = ThreadPoolExecutor()
        def work(executor, items):
            pool.submit(f, 1)
            kept = pool.submit(f, 2)
            kept.result()
            lost = pool.submit(f, 3)
            again = pool.submit(f, 4)
            again = pool.submit(f, 5)
            print(again)
            [pool.submit(f, i) for i in items]
            pool.map(f, items)
            for r in pool.map(f, items):
                pass
            executor.submit(f, 6)
            return pool.submit(f, 7)
    """, Futures)
    submissions = model[Futures].submissions
    fates = [(s.method, s.call.args[1].value.value if s.method == "submit" else "items", s.fate)
             for s in submissions]
    assert fates == [
        ("submit", "1", DROPPED), ("submit", "2", KEPT), ("submit", "3", UNUSED),
        ("submit", "4", UNUSED), ("submit", "5", KEPT), ("submit", "i", DROPPED),
        ("map", "items", DROPPED), ("map", "items", KEPT), ("submit", "7", KEPT)]
    lost, first_again = submissions[2], submissions[3]
    assert [d.name for d in lost.holders] == ["lost"] and lost.rebinding is None
    assert first_again.rebinding is not None and first_again.rebinding.name == "again"
    assert isinstance(submissions[5].container, cst.ListComp)


def test_futures_know_tasks_that_catch_every_exception() -> None:
    from threadlint.model.futures import Futures

    model = build("""
        import functools
        from concurrent.futures import ThreadPoolExecutor
        def logged():
            '''Doc.'''
            try:
                work()
            except Exception:
                log.exception("failed")
        def bare():
            try:
                work()
            except ValueError:
                raise
            except: pass
        def reraised():
            try:
                work()
            except BaseException:
                raise
        def reraised_inline():
            try:
                work()
            except Exception: raise
        def narrow():
            try:
                work()
            except OSError:
                pass
        def set_up_first():
            job = prepare()
            try:
                work(job)
            except Exception:
                pass
        def worker_loop():
            idx = 0
            while running:
                with lock:
                    try:
                        work(idx)
                    except Exception:
                        continue
        def counted_after():
            idx = 0
            while running:
                try:
                    work(idx)
                except Exception:
                    continue
                idx += 1
        def worker_loop_tail():
            while running:
                try:
                    item = next_item()
                except Exception:
                    continue
                return
        def raises_first():
            raise NotReady()
            try:
                work()
            except Exception:
                pass
        def work_after():
            while running:
                try:
                    item = next_item()
                except Exception:
                    continue
                work(item)
        def two_blocks():
            if not ready:
                return
            try:
                work()
            except Exception:
                pass
        def run(items):
            with ThreadPoolExecutor() as pool:
                pool.submit(logged)
                pool.submit(bare)
                pool.submit(functools.partial(logged, 1))
                pool.submit(lambda: logged())
                pool.submit(set_up_first)
                pool.submit(worker_loop)
                pool.submit(worker_loop_tail)
                pool.submit(reraised)
                pool.submit(reraised_inline)
                pool.submit(narrow)
                pool.submit(work)
                pool.submit(lambda: work() or logged())
                pool.submit(counted_after)
                pool.submit(raises_first)
                pool.submit(work_after)
                pool.submit(two_blocks)
    """, Futures)
    assert [s.task_catches_all for s in model[Futures].submissions] == [
        True, True, True, True, True, True, True,
        False, False, False, False, False, False, False, False, False]


def test_futures_see_wrappers_overriding_submit() -> None:
    from threadlint.model.futures import Futures

    model = build("""
        from concurrent.futures import ThreadPoolExecutor
        class Logging(ThreadPoolExecutor):
            def submit(self, fn, *args):
                return super().submit(fn, *args)
        class Named(ThreadPoolExecutor):
            pass
        Logging().submit(f)
        Logging().map(f, [])
        Named().submit(f)
    """, Futures)
    assert [s.overridden for s in model[Futures].submissions] == [True, False, False]


def _receivers(module: cst.Module) -> List[cst.Attribute]:
    """The ``x.method`` of every method call printed by ``print(x.method())``."""
    found: List[cst.Attribute] = []

    class Collect(cst.CSTVisitor):
        def visit_Call(self, node: cst.Call) -> None:
            if isinstance(node.func, cst.Name) and node.func.value == "print":
                call = node.args[0].value
                assert isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                found.append(call.func)

    module.visit(Collect())
    return found


def test_values_threading_kind_of_threads_conditions_and_events() -> None:
    model = build("""
        import threading as th
        import multiprocessing
        from threading import Event as E, current_thread
        from elsewhere import Mixin

        class Plain(th.Thread):
            pass
        class Named(th.Thread):
            def getName(self):
                return "n"
        class Child(Named):
            pass
        class Mixed(Mixin, th.Thread):
            pass

        class Holder:
            def __init__(self):
                self.cond = th.Condition()

            def go(self, param):
                print(self.cond.notifyAll())
                print(param.isSet())

        e = E()
        either = th.Event() if e else th.Condition()
        print(e.isSet())
        print(current_thread().getName())
        print(th.Timer(1, f).isDaemon())
        print(Plain().getName())
        print(Named().getName())
        print(Named().isDaemon())
        print(Child().getName())
        print(Mixed().isDaemon())
        print(multiprocessing.Process().isAlive())
        print(multiprocessing.Event().isSet())
        print(either.isSet())
    """, Values)
    values = model[Values]
    kinds = [values.threading_kind(func.value, func.attr.value) for func in _receivers(model.module)]
    assert kinds == ["condition", None, "event", "thread", "thread", "thread", None, "thread",
                     None, None, None, None, None]


def test_classes_foreign_bases_look_through_local_ancestors() -> None:
    model = build("""
        import threading
        from elsewhere import Mixin
        class A(threading.Thread): pass
        class B(A, object): pass
        class C(Mixin, A): pass
        class D(C): pass
        class E(metaclass=Meta): pass
    """, Classes)
    classes = model[Classes]
    by_name = {cls.name.value: cls for cls in model[Names].classes}
    known = ("threading.Thread",)
    assert {name: classes.foreign_bases(cls, known) for name, cls in by_name.items()} == {
        "A": False, "B": False, "C": True, "D": True, "E": False}
    assert classes.foreign_bases(by_name["A"]) is True  # Thread itself is foreign unless known


def test_values_know_the_lock_a_condition_is_built_on() -> None:
    model = build("""
        import threading, asyncio
        from threading import Condition as C
        lock = threading.RLock()
        shared = threading.Condition(lock)
        own = C()
        explicit_none = threading.Condition(lock=None)
        aio = asyncio.Condition()
        class Q:
            def __init__(self, *args):
                self.mutex = threading.Lock()
                self.not_empty = threading.Condition(self.mutex)
                self.spread = threading.Condition(*args)
        shared, own, explicit_none, aio
    """, Values)
    values = model[Values]
    line = model.module.body[-1].body[0].value
    shared, own, explicit_none, aio = (e.value for e in line.elements)
    [made] = values.conditions(shared)
    assert (made.kind, made.lock.value, made.lock_known) == ("thread", "lock", True)
    assert [(c.kind, c.lock) for c in values.conditions(own)] == [("thread", None)]
    assert [(c.kind, c.lock) for c in values.conditions(explicit_none)] == [("thread", None)]
    assert [(c.kind, c.lock) for c in values.conditions(aio)] == [("async", None)]
    assert values.conditions(made.lock) is None  # an RLock
    init = functions(model)["__init__"]
    assigns = [s.body[0] for s in init.body.body]
    assert values.conditions(assigns[0].targets[0].target) is None  # a Lock, not a condition
    [not_empty] = values.conditions(assigns[1].targets[0].target)
    assert cst.Module([]).code_for_node(not_empty.lock) == "self.mutex"
    [spread] = values.conditions(assigns[2].targets[0].target)
    assert spread.lock_known is False


def test_conditions_name_the_shared_lock_and_know_it_held() -> None:
    from threadlint.model.conditions import UNKNOWN, Conditions

    model = build("""
        import threading
        _lock = threading.RLock()
        _changed = threading.Condition(_lock)
        class Queue:
            def __init__(self):
                self.mutex = threading.Lock()
                self.other = threading.Lock()
                self.not_empty = threading.Condition(self.mutex)
                self.not_full = threading.Condition(self.mutex)
                self.own = threading.Condition()
                self.odd = threading.Condition(self.make())
            def put(self):
                with self.not_full:
                    self.not_empty.notify()
            def done(self):
                with self.mutex:
                    self.not_empty.notify_all()
            def wrong(self):
                with self.other:
                    self.own.notify()
            def unknown(self, guard):
                with guard:
                    self.own.notify()
                with self.other:
                    self.odd.notify()
        def change():
            with _lock:
                _changed.notify()
            _changed.notify()
    """, Conditions)
    conditions = model[Conditions]
    found = [(c.key, c.lock, conditions.holds(c)) for c in conditions.calls]
    assert found == [
        ("self.not_empty", "self.mutex", True),  # another condition on the same mutex
        ("self.not_empty", "self.mutex", True),  # the mutex itself
        ("self.own", None, False),  # a different lock of known type
        ("self.own", None, None),  # a lock of unknown kind
        ("self.odd", UNKNOWN, None),  # built on a lock the code cannot name
        ("_changed", "_lock", True),
        ("_changed", "_lock", False),  # nothing held
    ]


def test_conditions_know_the_loop_and_the_if_around_a_wait() -> None:
    from threadlint.model.conditions import Conditions

    model = build("""
        import threading
        cond = threading.Condition()
        def guarded(ready):
            with cond:
                if not ready:
                    cond.wait()
                else:
                    cond.wait(1)
        def looped(ready):
            with cond:
                while not ready():
                    if ready is None:
                        cond.wait()
                while not cond.wait(0.1):
                    pass
                ok = cond.wait(2)
        def helper():
            with cond:
                cond.wait(0.5)
        def caller():
            for _ in range(3):
                helper()
        def nested():
            while True:
                def inner():
                    with cond:
                        cond.wait()
    """, Conditions)
    conditions = model[Conditions]
    facts = [(type(c.loop).__name__, c.guard is not None, c.in_else, c.result_used)
             for c in conditions.calls]
    assert facts == [
        ("NoneType", True, False, False), ("NoneType", True, True, False),
        ("While", True, False, False), ("While", False, False, True), ("NoneType", False, False, True),
        ("NoneType", False, False, False), ("NoneType", False, False, False)]
    units = {c.unit.name.value: conditions.called_in_loops(c.unit) for c in conditions.calls}
    assert units == {"guarded": False, "looped": False, "helper": True, "inner": False}


def test_a_start_override_hands_run_to_the_thread_after_its_hooks() -> None:
    from threadlint.model import Attributes, Objects, Threads

    model = build("""
        import threading
        class Base(threading.Thread):
            def start(self):
                self.prepare()
                super().start()
                self.after()
            def prepare(self): pass
            def after(self): pass
        class Worker(Base):
            def run(self):
                self.state = 1
            def prepare(self):
                self.state = 0
            def after(self):
                self.state = 2
    """, Objects)
    funcs = {f"{n.name.value}@{model[Names].unit_label(n)}": n for n in model[Names].functions}
    run = funcs["run@Worker.run"]
    handovers = model[Threads].handovers[run]
    assert [model[Names].unit_label(unit) for _, unit in handovers] == ["Base.start"]
    objects = model[Objects]
    entry = objects.thread_entry(run)
    assert entry is not None
    by_unit = {model[Names].unit_label(a.unit): a for a in model[Attributes].changes}
    assert objects.before_handover(by_unit["Worker.prepare"], entry)
    assert not objects.before_handover(by_unit["Worker.after"], entry)
