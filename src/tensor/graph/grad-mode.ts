// Whether ops record a graph: a re-entrant flag restored on exit, so noGrad/enableGrad scopes nest freely.

let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = enabled;
  try {
    const result = fn();
    if (result instanceof Promise) throw new Error('noGrad/enableGrad: fn returned a Promise; grad mode scopes are synchronous');
    return result;
  } finally {
    gradEnabled = previous;
  }
}

/** Runs fn without recording a graph: results do not require grad. Nests with enableGrad. */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs fn with graph recording on, even inside noGrad (e.g. a solver's taped step). */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}
