/** Linux errno values (x86/generic) and their strerror texts, as the kernel returns them. */
export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const E2BIG = 7;
export const EBADF = 9;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const EMFILE = 24;
export const ENOTTY = 25;
export const ENOSPC = 28;
export const ENAMETOOLONG = 36;
export const EOPNOTSUPP = 95;
/** kernel-internal, yet it reaches user space from some bpf paths; not EOPNOTSUPP */
export const ENOTSUPP = 524;

export const ERRNO_NAMES: Readonly<Record<number, readonly [string, string]>> = {
  [EPERM]: ['EPERM', 'Operation not permitted'],
  [ENOENT]: ['ENOENT', 'No such file or directory'],
  [ESRCH]: ['ESRCH', 'No such process'],
  [E2BIG]: ['E2BIG', 'Argument list too long'],
  [EBADF]: ['EBADF', 'Bad file descriptor'],
  [ENOMEM]: ['ENOMEM', 'Cannot allocate memory'],
  [EACCES]: ['EACCES', 'Permission denied'],
  [EFAULT]: ['EFAULT', 'Bad address'],
  [EBUSY]: ['EBUSY', 'Device or resource busy'],
  [EEXIST]: ['EEXIST', 'File exists'],
  [ENODEV]: ['ENODEV', 'No such device'],
  [EINVAL]: ['EINVAL', 'Invalid argument'],
  [EMFILE]: ['EMFILE', 'Too many open files'],
  [ENOTTY]: ['ENOTTY', 'Inappropriate ioctl for device'],
  [ENOSPC]: ['ENOSPC', 'No space left on device'],
  [ENAMETOOLONG]: ['ENAMETOOLONG', 'File name too long'],
  [EOPNOTSUPP]: ['EOPNOTSUPP', 'Operation not supported'],
  [ENOTSUPP]: ['ENOTSUPP', 'Operation is not supported (kernel-internal 524)'],
};

/** 'E2BIG' for 7 or -7 */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[Math.abs(errno)]?.[0] ?? `E${Math.abs(errno)}`;
}
