"""The translation path, free of Ray and of the serving layers: languages, prompts, segmentation and
masking, cleanup, glossaries, the translation memory and the Translator that runs them over a model
handle. The service, the batch job, evaluation and fine-tuning all translate through it."""
