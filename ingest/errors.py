"""The ingest exception family. Every parser converts third-party errors into these, once,
with a message a person can act on (which file, which format, what is wrong).

    IngestError
    ├── UnsupportedFormat   the content is not any format we read
    ├── AmbiguousFormat     the content fits several readings; the user must say which
    ├── CorruptFile         the format is recognised but the content is damaged
    ├── TooLarge            the upload is above the configured size limit
    └── UnknownSubject      a multi-subject file names subjects that map to no patient
"""


class IngestError(Exception):
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
