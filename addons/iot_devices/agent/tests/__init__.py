import logging

# the agent logs device outages on purpose; keep the test output readable
logger = logging.getLogger("member_iot_agent")
logger.addHandler(logging.NullHandler())
logger.propagate = False
