"""TL999 syntax-error."""

from threadlint.rules.base import Rule


class SyntaxErrorRule(Rule):
    """## What it does
    Reports a file that cannot be parsed, or whose bytes cannot be decoded,
    at the line and column where CPython's own compiler reports the error.

    ## Why is this bad?
    No other rule can look at a file that does not parse; the run goes on with
    the other files instead of stopping.

    ## Example
    ```python
    def worker(:
        pass
    ```

    ## Use instead
    ```python
    def worker():
        pass
    ```

    ## Known limitations
    The verdict is the running CPython's, for every file, whether or not it
    holds threading code: the file's bytes are compiled as `import` compiles
    them, so the same file may be valid on one Python version and not on
    another (`type X = int` is TL999 on 3.11). What CPython refuses is never
    parsed by libcst, and the position is CPython's: its line, and its column
    in characters, never past the end of the line. Errors CPython raises only
    after parsing, while compiling to bytecode (`return` outside a function,
    a duplicate parameter name), are not reported.

    Code nested deeper than CPython accepts (about 3,000 levels on 3.11: `not
    not ...`, `a[0][0]...`, nested `lambda`) is TL999 too, as
    `RecursionError` or `MemoryError` at line 1 (CPython gives no position).
    Bytes that do not decode in the file's encoding are TL999 where `python
    file.py` refuses them, even in a comment, at the first such byte; after an
    encoding cookie or a BOM, where CPython skips comments undecoded, they are
    not a finding but a warning.

    When CPython accepts a file that libcst cannot parse or decode (a very
    long implicit string concatenation), there is no finding (the code is
    valid): a `threadlint: warning:` line on stderr names the file, and the
    exit status is not affected.
    """

    code = "TL999"
    name = "syntax-error"
    summary = "the file cannot be parsed or decoded"
