/** A usage error: the command line is wrong (exit 2); its message names the option and the rule. */
export class UsageError extends Error {
  code = 'ERR_PERFEMU_USAGE';
}
export { UsageError as UsageErrorLike };
