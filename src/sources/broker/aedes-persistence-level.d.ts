declare module 'aedes-persistence-level/asyncPersistence.js' {
  /** aedes' persistence interface over an abstract-level database (aedes 1.x async API). */
  export default class AsyncLevelPersistence {
    constructor(db: unknown);
  }
}

declare module 'aedes-persistence/asyncPersistence.js' {
  /** aedes' in-memory persistence (aedes 1.x async API). */
  export default class AsyncMemoryPersistence {
    constructor();
  }
}
