"""Fleet-wide state in Redis (`shared_state`): budgets, client-side limits, exact caches.

Optional: without `shared_state` none of this is built and `redis` is never imported (this
package imports nothing at all; `store.py` imports redis when a store is made). The parts:

- `state.SharedState`: the one handle the runtime builds, starts and closes;
- `store.SharedStore`: the client, the per-call deadline, availability and its counters;
- `budgets`, `limits`, `cache`: the three shared features, each behind small methods that
  return plain values (`results.py`), `UNAVAILABLE` included, never exceptions;
- `flusher.Flusher`: the bounded background batches for writes no request waits for;
- `keys.py`: every key and when it expires.
"""
