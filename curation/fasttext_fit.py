"""fastText training in a fresh process that imports nothing else.

Single-threaded, seeded fastText training gave other bytes, or diverged ("Encountered NaN"), depending on what the
process had imported or run before it: in a long-lived process that had run fastText models, and in a spawned child
once the child imported the classifier modules (numpy, OpenCC and the n-gram model) to unpickle the function. This
module imports fastText only, so the spawned child is as bare as the CLI and gives the same model bytes every time.
"""


def fasttext_fit(train_file: str, params: dict, seed: int, quantize: bool, cutoff: int, model_path: str) -> None:
    """Train (and quantize) a fastText model and save it."""
    import fasttext

    model = fasttext.train_supervised(input=train_file, seed=seed, thread=1, verbose=0, **params)
    if quantize:
        model.quantize(input=train_file, qnorm=True, retrain=False, cutoff=cutoff)
    model.save_model(model_path)
