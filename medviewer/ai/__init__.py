"""The AI engine: model packages, inference and explanations. Imports torch lazily."""
