/** The smallest observable store: the whole state replaced on each change, listeners told afterwards. */
export interface Store<T> {
  get(): T;
  update(change: (state: T) => T): void;
  subscribe(listener: (state: T, previous: T) => void): () => void;
}

export function createStore<T>(initial: T): Store<T> {
  let state = initial;
  const listeners = new Set<(state: T, previous: T) => void>();
  return {
    get: () => state,
    update(change) {
      const previous = state;
      state = change(state);
      if (state !== previous) for (const listener of listeners) listener(state, previous);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
