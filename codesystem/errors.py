"""The one error a CMS release can raise: it says where (file, line, field) and what."""

from __future__ import annotations


class ReleaseError(Exception):
    """A CMS release file that cannot be read faithfully.

    Carries the file, the 1-based line (or spreadsheet row) and the CMS field name so a
    user can open the file at the right place; either may be None for whole-file problems.
    """

    def __init__(
        self, file: str, message: str, *, line: int | None = None, field: str | None = None
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field {self.field}")
        return f"{', '.join(where)}: {self.message}"
