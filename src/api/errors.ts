// The API's own typed error: a kernel object that cannot be used as asked (a NULL or damaged pointer,
// a type without that member, a list that loops), naming the address involved. Memory the dump does
// not hold stays a NotInDumpError (which names the address too); a type BTF lacks is a ParseError.
import { ParseError } from '../errors.ts';
import { hex } from '../text.ts';

/**
 * Thrown when a kernel object cannot be read or used as asked: a NULL pointer followed, an index
 * past an array, a list or tree that loops or is too long (damage), a value that is not what its
 * type says. `address` is the address of the object involved, when there is one.
 *
 * It is a {@link ParseError}, so code that already treats dump damage as data (`isDumpDataError`)
 * treats it the same way.
 */
export class ObjectError extends ParseError {
  /** The kernel virtual address of the object involved, when there is one. */
  readonly address: bigint | undefined;
  constructor(message: string, address?: bigint, hint?: string) {
    super(address === undefined ? message : `${message} (at ${hex(address)})`, { hint });
    this.name = 'ObjectError';
    this.address = address;
  }
}
