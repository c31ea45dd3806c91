"""Live state in Redis: the only package that knows key names or Lua."""
