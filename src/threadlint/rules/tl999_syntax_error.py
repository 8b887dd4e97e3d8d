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
    Syntax is judged by libcst's parser; when CPython (the running version)
    accepts a file libcst rejects, the finding says so and points where libcst
    stopped. No threading rule runs on such a file.
    """

    code = "TL999"
    name = "syntax-error"
    summary = "the file cannot be parsed or decoded"
