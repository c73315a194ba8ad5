export declare const EXTERNAL: readonly string[];
export declare function bundle(opts: { src: string; outdir: string; clean?: boolean }): Promise<unknown>;
