"""Exceptions whose messages are written for users and name the fix.

The CLI turns them into a one-line error and a non-zero exit; the bot logs the
traceback and replies with a short apology. Nothing else should reach a user.
"""


class KbError(Exception):
    """Base class: the message is shown to the user as is."""


class SettingsError(KbError):
    """A setting has a value kb cannot use; the message names the setting."""


class ModelNotFound(KbError):
    """A model named in the settings could not be found or loaded."""


class StoreUnavailable(KbError):
    """The Chroma store (folder or server) cannot be opened or reached."""


class EmptyStore(KbError):
    """The store holds nothing yet; the message says how to fill it."""


class LLMUnavailable(KbError):
    """The LLM endpoint did not answer or answered with an error."""


class IngestLocked(KbError):
    """Another ingest holds the store's lock."""


class QuestionTooLong(KbError):
    """A question longer than max_question_chars; the message gives the limit."""


class StoreDamaged(StoreUnavailable):
    """A store file is truncated or not a database; the message says how to recover."""


class EmbedderMismatch(KbError):
    """The configured embedder computes other vectors than the store holds; the message says how to fix it."""
