"""Batch translation on Ray Data (`python -m app.batch`, `fanyi batch`): job.py is the pipeline and
`run_batch`, cli.py the command line, shards.py the files, stages.py the Ray Data stages,
translate.py a shard's rows through the service's translation path."""
