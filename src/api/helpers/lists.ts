// Kernel linked structures as typed objects: list_head lists, hlists, red-black trees. Every walk
// is bounded and remembers what it visited: a loop or an over-long chain throws an ObjectError
// naming the node, a node the dump lacks a NotInDumpError naming its address.
import { ObjectError } from '../errors.ts';
import type { KType } from '../object.ts';
import { KObject } from '../object.ts';

/** Longest list or tree walked before it is taken for damage. */
export const MAX_NODES = 1 << 20;

function addressOf(head: KObject): bigint {
  return head.typeName.endsWith('*') ? head.pointer() : head.address;
}

/**
 * The nodes (struct list_head) of a circular list, not including the head. `head` is a
 * struct list_head (or a pointer to one).
 */
export function* listNodes(head: KObject, max = MAX_NODES): Generator<KObject> {
  const h = addressOf(head);
  const lh = head.ctx.btf.get('struct list_head').id;
  const seen = new Set<bigint>();
  let node = new KObject(head.ctx, lh, h).member('next').pointer();
  while (node !== h) {
    if (node === 0n) throw new ObjectError(`list: NULL next pointer after ${seen.size} entries`, h);
    if (seen.has(node)) throw new ObjectError(`list loops back to a node after ${seen.size} entries without returning to the head`, node);
    if (seen.size >= max) throw new ObjectError(`list longer than ${max} entries`, h);
    seen.add(node);
    const obj = new KObject(head.ctx, lh, node);
    const next = obj.member('next').pointer();
    yield obj;
    node = next;
  }
}

/** list_for_each_entry: the `type` objects linked through their `member` on the list at `head`. */
export function* listEntries(head: KObject, type: string | KType, member: string, max = MAX_NODES): Generator<KObject> {
  for (const n of listNodes(head, max)) yield n.containerOf(type, member);
}

/** Whether a list is empty (head->next == head). */
export function listEmpty(head: KObject): boolean {
  return head.member('next').pointer() === addressOf(head);
}

/** hlist_for_each_entry: the `type` objects on the hlist at `head` (struct hlist_head). */
export function* hlistEntries(head: KObject, type: string | KType, member: string, max = MAX_NODES): Generator<KObject> {
  const seen = new Set<bigint>();
  let node = head.member('first').pointer();
  while (node !== 0n) {
    if (seen.has(node)) throw new ObjectError(`hlist loops after ${seen.size} entries`, node);
    if (seen.size >= max) throw new ObjectError(`hlist longer than ${max} entries`, head.address);
    seen.add(node);
    const n = head.ctx.btf.get('struct hlist_node').id;
    const obj = new KObject(head.ctx, n, node);
    const next = obj.member('next').pointer();
    yield obj.containerOf(type, member);
    node = next;
  }
}

/**
 * The nodes (struct rb_node) of a red-black tree in order (smallest first). `root` is a struct
 * rb_root, a struct rb_root_cached, or a pointer to either.
 */
export function* rbtreeNodes(root: KObject, max = MAX_NODES): Generator<KObject> {
  let r = root.typeName.endsWith('*') ? root.deref() : root;
  if (r.hasMember('rb_root')) r = r.member('rb_root');
  const rbNode = root.ctx.btf.get('struct rb_node').id;
  const at = (a: bigint) => new KObject(root.ctx, rbNode, a);
  const stack: bigint[] = [];
  const seen = new Set<bigint>();
  let node = r.member('rb_node').pointer();
  while (node !== 0n || stack.length) {
    while (node !== 0n) {
      if (seen.has(node)) throw new ObjectError(`rbtree: node visited twice (loop) after ${seen.size} nodes`, node);
      if (seen.size >= max) throw new ObjectError(`rbtree larger than ${max} nodes`, r.address);
      seen.add(node);
      stack.push(node);
      node = at(node).member('rb_left').pointer();
    }
    const n = stack.pop()!;
    yield at(n);
    node = at(n).member('rb_right').pointer();
  }
}

/** rbtree_postorder / in-order entries: the `type` objects linked through their rb_node `member`. */
export function* rbtreeEntries(root: KObject, type: string | KType, member: string, max = MAX_NODES): Generator<KObject> {
  for (const n of rbtreeNodes(root, max)) yield n.containerOf(type, member);
}

// XArray (radix tree) constants from include/linux/xarray.h: an internal entry has the low two bits
// 10; a node pointer is (node | 2) with value > 4096; XA_CHUNK_SHIFT is 6 unless CONFIG_BASE_SMALL.
function xaIsNode(e: bigint): boolean {
  return (e & 3n) === 2n && e > 4096n;
}

/**
 * The present entries of an XArray (struct xarray, or a radix_tree_root which has the same
 * layout since 4.20) as [index, entry] pairs in index order; value entries (xa_mk_value) are
 * returned as they are stored.
 */
export function* xarrayEntries(xa: KObject, max = MAX_NODES): Generator<[bigint, bigint]> {
  const ctx = xa.ctx;
  const nodeType = ctx.btf.get('struct xa_node').id;
  const slotsLen = new KObject(ctx, nodeType, 0n).member('slots').length;
  let count = 0;
  function* walk(entry: bigint, base: bigint, depth: number): Generator<[bigint, bigint]> {
    if (entry === 0n) return;
    if (!xaIsNode(entry)) {
      yield [base, entry];
      return;
    }
    if (depth > 16) throw new ObjectError('xarray deeper than 16 levels', entry);
    const node = new KObject(ctx, nodeType, entry - 2n);
    const shift = BigInt(node.member('shift').number());
    const slots = node.member('slots');
    for (let i = 0; i < slotsLen; i++) {
      if (++count > max) throw new ObjectError(`xarray larger than ${max} entries`, xa.address);
      const e = slots.index(i).pointer();
      if (e === 0n) continue;
      // Sibling and retry entries (internal, small values) are not entries of their own.
      if ((e & 3n) === 2n && e <= 4096n) continue;
      yield* walk(e, base + (BigInt(i) << shift), depth + 1);
    }
  }
  yield* walk(xa.member('xa_head').pointer(), 0n, 0);
}
