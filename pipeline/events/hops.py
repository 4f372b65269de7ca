"""The hop names this package's services record (``Envelope.hops`` and ``hop`` events): the
shared vocabulary of :class:`pipeline.messages.HopName`, as plain strings."""

from pipeline.messages import HopName

GENERATOR_SENT = HopName.GENERATOR_SENT.value  # handed to Kafka by the generator (round 0)
WORKER_RECEIVED = HopName.WORKER_RECEIVED.value  # a worker took it from qa.questions
WORKER_ANSWERED = HopName.WORKER_ANSWERED.value  # the answer went to qa.answers
WORKER_DEFERRED = HopName.WORKER_DEFERRED.value  # the record went to a retry tier
RELAY_RELEASED = HopName.RELAY_RELEASED.value  # the relay put it back on qa.questions
STORAGE_WRITTEN = HopName.STORAGE_WRITTEN.value  # committed to PostgreSQL (event only)
DEAD_LETTERED = HopName.DEAD_LETTERED.value  # produced to qa.dlq (any stage)
