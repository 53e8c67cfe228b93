"""Command-line tools around a running or in-process service: eval (sacreBLEU), soak, engine
comparison, client check, and the in-process translation path they share."""
