// Public surface of src/viar. Empty for now: the tokenizer and the VAR/VIAR models arrive with issues #6 and #7.

export {};
