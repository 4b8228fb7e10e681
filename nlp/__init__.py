"""Slukh NLP: lemmas, encoder, sentiment head, root-cause rules and the Labeller."""
