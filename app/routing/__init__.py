"""The routing core: strategies decide (pure), the dispatcher commits through the store."""
