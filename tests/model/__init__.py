"""A kit for model-based tests: seeded random walks against a manual-clock tenant, with every
response and the whole live state compared against a small in-memory reference model.

- `entities` holds the plain data: what a queue and an agent are configured with, and the model's
  view of an agent and a call.
- `reference` is the part of the reference model that every scenario shares: offers, accept /
  reject / abandon / complete, agent states and the timers, fired one at a time in the order of
  their members. A scenario supplies the routing rules (who is woken, who gets which call) and
  its own call fields and timers.
- `walk` drives the service and the model side by side: the operations, the comparison of the
  live state after each step, and a failure that names the seed and the step and prints the
  operation log.

The scenarios are `tests/test_model.py` (the call lifecycle: max wait, overflow, priorities,
repeated external ids) and `tests/test_model_routing.py` (routing across queues: skills,
relaxation, preferred agents).
"""
