"""The conversion stage: Hugging Face checkpoint -> GGUF -> a sweep of quantization levels."""
