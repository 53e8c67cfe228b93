"""Load generation against any OpenAI-compatible endpoint (`python -m app.bench`, `fanyi bench`):
cli.py the command line, load.py the requests, metrics.py the figures, report.py tables and plots,
merge.py runs made one system at a time."""
