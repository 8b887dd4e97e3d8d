"""TL900 unused-noqa.

This rule needs the final findings of every other rule, so it is judged in
the engine's noqa stage (``threadlint.engine._noqa_stage``, with the logic in
``threadlint.noqa.unused``), not in the rules phase; this class carries its
code, name and documentation.
"""

from threadlint.rules.base import Rule


class UnusedNoqa(Rule):
    """## What it does
    Checks for `# noqa: TL...` comments naming threadlint codes that suppress
    nothing: no finding of that code on the statement the comment is on
    (ruff's `RUF100`, for threadlint's own codes).

    A code is judged only when it starts with `TL` and every rule it names
    (a prefix such as `TL2` names several) was enabled for the file in this
    run: a code that is not selected may be used by a run that selects it,
    so `threadlint --select TL900` alone judges nothing; run it with the rules
    it should judge (`--select TL101,TL900`, or the default `ALL`).

    ## Why is this bad?
    A `# noqa` left behind after the code was fixed (or written on the wrong
    line of a statement) silences the next real finding there without
    anyone deciding to, and tells readers of a problem that is not there.

    ## Example
    ```python
    import threading

    worker = threading.Thread(target=print, args=("ready",))  # noqa: TL101
    worker.start()
    worker.join()
    ```

    ## Use instead
    ```python
    import threading

    worker = threading.Thread(target=print, args=("ready",))
    worker.start()
    worker.join()
    ```

    ## Fix safety
    `--fix` removes only the unused threadlint codes: `# noqa: TL101, E501`
    becomes `# noqa: E501`, and the whole `# noqa: ...` goes when no code
    remains (a comment before it, `# why  # noqa: TL101`, stays as `# why`;
    words after the codes stay as a comment). Other tools' codes are never
    touched, so nothing another linter reads changes; the findings of the
    file are the same before and after.

    ## Known limitations
    - A blanket `# noqa` (no codes) is never judged: it may be there for
      another tool. Neither is a file-level `# threadlint: noqa`.
    - A code naming no threadlint rule (`TL777`, a typo such as `TL1O1`) is
      left alone rather than guessed at.
    - A `# noqa` naming TL900 itself (or a prefix covering it: `TL9`, `TL`)
      is never reported.
    - Not judged in a file with a syntax error, one that cannot be tokenized
      or decoded, or one where a rule or the analysis failed (the findings
      are incomplete there).
    """

    code = "TL900"
    name = "unused-noqa"
    summary = "a `# noqa` names threadlint codes that suppress nothing"
    fixable = True
    #: Never parsed for: the noqa stage judges it on tokens, after the rules.
