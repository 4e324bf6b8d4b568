"""Exception hierarchy of bonecover; the CLI maps each family to an exit code.

Library code raises these and never exits; only ``bonecover.cli`` turns them into
exit codes (see ``EXIT_CODES``) and one-line messages on stderr.
"""

from __future__ import annotations


class BonecoverError(Exception):
    """Base of every error bonecover raises on purpose."""

    exit_code = 1


class InputError(BonecoverError, ValueError):
    """The input cannot be analysed as given (missing, unreadable, inconsistent).

    The message says what is wrong, which file or series, and what to do. Exit code 2.
    """

    exit_code = 2


class AnalysisError(BonecoverError):
    """The input was read but the analysis cannot be trusted (QA failure). Exit code 3."""

    exit_code = 3


class AnalysisIncomplete(AnalysisError):
    """A comparison stopped part way (the hallux not found, the registration impossible).

    ``document`` is the partial report (``status: failed``, the stage, the reason and what
    was found until then), which the CLI writes as report.json before exiting with 3.
    """

    def __init__(self, message: str, document: dict[str, object]) -> None:
        super().__init__(message)
        self.document = document


#: Documented exit codes of the command line (README, SPEC).
EXIT_CODES = {
    0: "done",
    1: "internal error (a bug): please report it with the command line used",
    2: "bad input: the one-line message on stderr says what and what to do",
    3: "analysed but not trustworthy: QA failed (the report is written with qa: fail), or the analysis "
       "stopped part way (the hallux not found: report.json says status: failed, where and why)",
}
