/** A promise with its settle functions at hand: how a test holds a handler until it chooses. */
export interface Deferred {
  promise: Promise<unknown>;
  resolve: (value?: unknown) => void;
  reject: (error: unknown) => void;
}

/** A fresh {@link Deferred}. */
export function deferred(): Deferred {
  let resolve!: Deferred['resolve'];
  let reject!: Deferred['reject'];
  const promise = new Promise<unknown>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A step's run held in flight: `started` resolves when the handler is called, `release` lets it finish. */
export interface Gate {
  started: Deferred;
  release: Deferred;
}

/** A fresh, closed {@link Gate}. */
export function gate(): Gate {
  return { started: deferred(), release: deferred() };
}
