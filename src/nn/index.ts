// Public surface of src/nn. Empty for now: modules, layers, optimizers and checkpoints arrive with the nn issue (#3).

export {};
