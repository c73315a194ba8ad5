declare module 'aedes-persistence-level/asyncPersistence.js' {
  /** aedes' persistence interface over an abstract-level database (aedes 1.x async API). */
  export default class AsyncLevelPersistence {
    constructor(db: unknown);
  }
}
