"""gorgon-nb: notebook-native multi-agent LLM workflows."""
