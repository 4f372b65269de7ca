"""The retry relay: qa.retry.<tier> -> qa.questions when each record's ``due_at`` has passed."""

from pipeline.relay.schedule import DueSchedule
from pipeline.relay.settings import RelaySettings

__all__ = ["DueSchedule", "RelaySettings"]
