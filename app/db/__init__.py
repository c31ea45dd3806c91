"""SQL storage: configuration and history. The only package that speaks SQL."""
