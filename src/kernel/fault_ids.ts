/** Ids of the injectable faults (kernel/faults.ts describes them); 0 is the correct kernel. */
export const FAULT_FREE_WITHOUT_GP = 1;
export const FAULT_PURGE_NO_OWNER_CHECK = 2;
export const FAULT_REPLACE_LEAK = 3;
export const FAULT_DOUBLE_DROP = 4;
export const FAULT_UPDATE_LOAD_STORE = 5;
export const FAULT_READER_EARLY_TAIL = 6;
export const FAULT_PRODUCER_EARLY_HEAD = 7;
export const FAULT_GP_NO_WAIT = 8;
export const FAULT_LEAK_47 = 9;
