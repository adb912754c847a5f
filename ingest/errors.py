"""The ingest branch of the exception tree (drawn in :mod:`schemas.errors`). Every parser
converts third-party errors into these, once, with a message a person can act on (which file,
which format, what is wrong)."""

from schemas.errors import RehabwatchError


class IngestError(RehabwatchError):
    """Base of all ingest errors: the upload is rejected and nothing is stored."""


class UnsupportedFormat(IngestError):
    pass


class AmbiguousFormat(IngestError):
    pass


class CorruptFile(IngestError):
    pass


class TooLarge(IngestError):
    pass


class UnknownSubject(IngestError):
    pass
