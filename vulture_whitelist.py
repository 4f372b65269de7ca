"""Names vulture (``make lint``) reports as unused although something calls them.

Each is a parameter that a protocol fixes: the caller passes it whether or not it is read.
Keep this short: delete dead code instead of listing it here.
"""

exc_type, exc_info, tb  # __exit__ / __aexit__ (context managers)
frame  # signal handlers: handler(signum, frame)
user_api  # threadpoolctl's limiter protocol: limit(limits=..., user_api=...)
callbacks, num_messages  # the confluent-kafka Consumer's subscribe/consume, in unit-test fakes
