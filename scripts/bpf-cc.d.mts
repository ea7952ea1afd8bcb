export function multiarchTriplet(): string;
export function bpfIncludeDirs(): string[];
export function clangBpfArgs(src: string, out: string, opts?: { werror?: boolean; debug?: boolean }): string[];
