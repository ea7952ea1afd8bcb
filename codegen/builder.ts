/**
 * Small constructors that make pipeline descriptions read like P4. They only build IR values;
 * `validatePipeline` checks the result.
 */
import type {
  ActionDef,
  Condition,
  FieldRef,
  HeaderDef,
  Operand,
  ParamDef,
  Primitive,
  Statement,
  TcpFlag,
} from './ir.js';

/** `f('ipv4.dst_addr')` → a field reference. */
export function f(path: string): FieldRef {
  const [header, field, ...rest] = path.split('.');
  if (!header || !field || rest.length > 0) throw new Error(`field path must be <header>.<field>: ${path}`);
  return { header, field };
}

export const param = (name: string): Operand => ({ kind: 'param', name });
export const konst = (value: bigint | number): Operand => ({ kind: 'const', value: BigInt(value) });
export const fieldValue = (path: string): Operand => ({ kind: 'field', ref: f(path) });

export const assign = (dst: string, src: Operand): Primitive => ({ op: 'assign', dst: f(dst), src });
export const forward = (port: Operand): Primitive => ({ op: 'forward', port });
export const toController = (): Primitive => ({ op: 'toController' });
export const drop = (): Primitive => ({ op: 'drop' });
export const clearTcpFlag = (flag: TcpFlag): Primitive => ({ op: 'clearTcpFlag', flag });
export const setTcpWindow = (value: Operand): Primitive => ({ op: 'setTcpWindow', value });
export const when = (cond: Condition, ...then: Primitive[]): Primitive => ({ op: 'if', cond, then });
export const paramSet = (name: string): Condition => ({ kind: 'paramSet', param: name });
export const tcpFlagSet = (flag: TcpFlag): Condition => ({ kind: 'tcpFlagSet', flag });

export function header(name: string, fields: Record<string, number>, controller?: 'packet_in' | 'packet_out'): HeaderDef {
  const def = { name, fields: Object.entries(fields).map(([n, bits]) => ({ name: n, bits })) };
  return controller ? { ...def, controller } : def;
}

/**
 * An action. Appends `markChecksum` when the body writes a field of a checksummed header
 * (`checksummed` lists those header names), so no pipeline can forget it.
 */
export function action(
  name: string,
  id: number,
  params: Record<string, number>,
  body: Primitive[],
  checksummed: readonly string[] = [],
): ActionDef {
  const writesChecksummed = (prims: readonly Primitive[]): boolean =>
    prims.some(
      (p) =>
        (p.op === 'assign' && checksummed.includes(p.dst.header)) ||
        ((p.op === 'clearTcpFlag' || p.op === 'setTcpWindow') && checksummed.includes('tcp')) ||
        (p.op === 'if' && writesChecksummed(p.then)),
    );
  const paramDefs: ParamDef[] = Object.entries(params).map(([n, bits]) => ({ name: n, bits }));
  const full = writesChecksummed(body) && !body.some((p) => p.op === 'markChecksum') ? [...body, { op: 'markChecksum' } as const] : body;
  return { name, id, params: paramDefs, body: full };
}

export const apply = (table: string, branches: { hit?: Statement[]; miss?: Statement[] } = {}): Statement => ({
  kind: 'apply',
  table,
  ...branches,
});
export const ifValid = (h: string, then: Statement[], otherwise?: Statement[]): Statement =>
  otherwise ? { kind: 'ifValid', header: h, then, else: otherwise } : { kind: 'ifValid', header: h, then };
export const call = (actionName: string, ...args: (bigint | number)[]): Statement => ({
  kind: 'call',
  action: actionName,
  args: args.map((a) => BigInt(a)),
});
export const exit = (): Statement => ({ kind: 'exit' });
