import os
import sys

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # tokenizers warns after the data loader forks

from app.finetune.loop import main  # noqa: E402

sys.exit(main())
