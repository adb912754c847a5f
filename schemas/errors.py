"""The one exception family of rehabwatch. Every error we raise on purpose descends from
:class:`RehabwatchError`; a third-party error is translated once, where it is caught
(``raise ... from exc``), into one of these, with a message a person can act on. The command
line and the HTTP API catch only the root: anything else is a bug and shows as one.

    RehabwatchError
    ├── ConfigError           a setting (environment variable, rules file) that cannot work
    ├── UsageError            a command or request asks for something that cannot be done
    ├── NotFound              no such patient or alert (or not the caller's to see)
    ├── ProtocolError         schemas.protocol: a protocol file or target override is invalid
    ├── WireError             schemas.wire: a stream message cannot be decoded
    ├── IngestError           ingest.errors: the upload is rejected, nothing is stored
    │   ├── UnsupportedFormat     the content is not any format we read
    │   ├── AmbiguousFormat       the content fits several readings; the user must say which
    │   ├── CorruptFile           the format is recognised but the content is damaged
    │   ├── TooLarge              the upload is above the configured size limit
    │   └── UnknownSubject        the upload names patients that are not enrolled
    ├── AlertError            alerts.lifecycle: an alert action that is not allowed
    │   ├── InvalidTransition     e.g. acknowledging a resolved alert
    │   └── InvalidSnooze         a snooze length or date outside the allowed ones
    ├── DeliveryError         alerts.notifiers: a channel did not take a notification
    ├── StorageError          storage.database: the database cannot be used
    │   ├── DatabaseUnavailable   cannot connect, or it is locked past the wait
    │   └── SchemaMismatch        no schema, or an older one: run ``rehabwatch init``
    ├── TopicLayoutError      processors.stream: the broker's topics cannot be used as configured
    ├── BrokerError           rehabwatch.broker: the embedded broker did not start
    └── PublishError          rehabwatch.publish: the broker did not take the day grids
"""


class RehabwatchError(Exception):
    """Base of every error rehabwatch raises on purpose."""


class ConfigError(RehabwatchError):
    """A setting cannot work as given; the message names the variable and what is allowed."""


class UsageError(RehabwatchError):
    """A command or request asks for something that cannot be done as asked."""


class NotFound(RehabwatchError):
    """The thing asked for does not exist (or may not be seen by the caller)."""
