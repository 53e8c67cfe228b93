"""The default model's conversion refuses a tokenizer that splits words into characters."""

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from app.models.default import TOKENIZER_SAMPLE, PrepareError, check_tokenizer


def _tokenizer(per_character: bool) -> PreTrainedTokenizerFast:
    units = sorted(set(TOKENIZER_SAMPLE)) if per_character else TOKENIZER_SAMPLE.replace(".", " .").split()
    vocab = {"<unk>": 0, **{unit: i + 1 for i, unit in enumerate(dict.fromkeys(units))}}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split("", "isolated") if per_character else pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>")


def test_subword_tokenizer_passes():
    check_tokenizer(_tokenizer(per_character=False))


def test_character_level_tokenizer_is_refused_with_the_fix():
    tokenizer = _tokenizer(per_character=True)
    assert len(tokenizer(TOKENIZER_SAMPLE).input_ids) == len(TOKENIZER_SAMPLE)  # the broken conversion's shape
    with pytest.raises(PrepareError, match=r"splits words into characters \(44 tokens.*transformers>=5.19"):
        check_tokenizer(tokenizer)
