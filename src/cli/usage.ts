import { ERR, PerfemuError } from '../arena/perfemu_error.js';

/** A usage error: the command line is wrong (exit 2); its message names the option and the rule. */
export class UsageError extends PerfemuError {
  constructor(message: string) {
    super(ERR.USAGE, message);
    this.name = 'UsageError';
  }
}
export { UsageError as UsageErrorLike };
