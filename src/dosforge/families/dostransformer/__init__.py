"""DOSTransformer (seed `001_…`): model, graph featurisation, training unit and its own protocol."""
