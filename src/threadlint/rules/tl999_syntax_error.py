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
    Syntax is judged by the running CPython's own compiler, so the same file
    may be valid on one Python version and not on another. When CPython
    accepts a file that libcst cannot parse, there is no finding (the code is
    valid); a warning on stderr says the file was skipped, and the exit status
    is not affected. Errors that CPython raises only after parsing, while
    compiling to bytecode (`return` outside a function, a duplicate parameter
    name), are not reported: checking them would mean compiling every file.
    """

    code = "TL999"
    name = "syntax-error"
    summary = "the file cannot be parsed or decoded"
