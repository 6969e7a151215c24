"""The model store: a model asked for twice at once is trained once."""

import threading

from breathing_lib import store


def test_concurrent_requests_for_one_model_train_it_once(tiny_config, tmp_path, monkeypatch):
    calls = []
    real_fit = store.fit
    monkeypatch.setattr(store, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    results = [None, None]

    def ask(i):
        results[i] = store.trained_model(tiny_config, store=tmp_path, device="cpu", progress=False)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    first, second = (r.model.state_dict() for r in results)
    assert all((first[k] == second[k]).all() for k in first)
