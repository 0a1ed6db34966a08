"""A plain Optuna + PyTorch study, switched to metasearch by its ``create_study`` line.

The objective below knows nothing of metasearch: an MLP on a tabular classification data set,
reporting validation accuracy after each epoch. Run it cold (Optuna's TPE and median pruner)
or with the meta-model of the ``tabular-mlp`` family (MetaSampler and MetaPruner):

    python examples/optuna_pytorch.py --trials 20            # cold start
    python examples/optuna_pytorch.py --trials 20 --meta     # metasearch

The parameter names and ranges are those of the ``tabular-mlp`` family (``metasearch families
tabular-mlp``), which is what lets its meta-model help; a parameter it does not know is left
to Optuna's TPE.
"""

from __future__ import annotations

import argparse

import optuna
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from torch import nn

EPOCHS = 20


def load_data(seed: int = 0) -> tuple[torch.Tensor, ...]:
    x, y = load_breast_cancer(return_X_y=True)
    x_train, x_valid, y_train, y_valid = train_test_split(x, y, test_size=0.3, stratify=y,
                                                          random_state=seed)
    scaler = StandardScaler().fit(x_train)
    return (torch.tensor(scaler.transform(x_train), dtype=torch.float32),
            torch.tensor(y_train), torch.tensor(scaler.transform(x_valid), dtype=torch.float32),
            torch.tensor(y_valid))


DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # CUDA_VISIBLE_DEVICES
X_TRAIN, Y_TRAIN, X_VALID, Y_VALID = (t.to(DEVICE) for t in load_data())
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}


def objective(trial: optuna.Trial) -> float:
    lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    weight_decay = trial.suggest_float("weight_decay", 1e-6, 1e-1, log=True)
    batch_size = trial.suggest_int("batch_size", 16, 256, log=True)
    optimizer_name = trial.suggest_categorical("optimizer", ["adam", "adamw", "sgd", "rmsprop"])
    momentum = (trial.suggest_float("momentum", 0.0, 0.99)
                if optimizer_name in ("sgd", "rmsprop") else 0.0)
    width = trial.suggest_int("width", 16, 256, log=True)
    depth = trial.suggest_int("depth", 1, 4)
    dropout = trial.suggest_float("dropout", 0.0, 0.6)
    activation = trial.suggest_categorical("activation", list(ACTIVATIONS))

    torch.manual_seed(trial.number)
    layers: list[nn.Module] = []
    width_in = X_TRAIN.shape[1]
    for _ in range(depth):
        layers += [nn.Linear(width_in, width), ACTIVATIONS[activation](), nn.Dropout(dropout)]
        width_in = width
    model = nn.Sequential(*layers, nn.Linear(width_in, 2)).to(DEVICE)
    params = model.parameters()
    optimizer = {
        "adam": lambda: torch.optim.Adam(params, lr=lr, weight_decay=weight_decay),
        "adamw": lambda: torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay),
        "sgd": lambda: torch.optim.SGD(params, lr=lr, weight_decay=weight_decay,
                                       momentum=momentum),
        "rmsprop": lambda: torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay,
                                               momentum=momentum),
    }[optimizer_name]()
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(trial.number)
    accuracy = 0.0
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(len(X_TRAIN), generator=generator).to(DEVICE)
        for rows in order.split(batch_size):
            optimizer.zero_grad()
            loss = loss_fn(model(X_TRAIN[rows]), Y_TRAIN[rows])
            if not torch.isfinite(loss):
                raise optuna.TrialPruned(f"loss is {loss.item()} at epoch {epoch + 1}")
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = float((model(X_VALID).argmax(1) == Y_VALID).float().mean())
        trial.report(accuracy, epoch + 1)
        if trial.should_prune():
            raise optuna.TrialPruned()
    return accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--meta", action="store_true", help="MetaSampler and MetaPruner")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--storage", default=None, help="e.g. postgresql://... for workers")
    parser.add_argument("--study", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    if args.meta:
        from metasearch import MetaPruner, MetaSampler
        from metasearch.families import classification_meta_features

        features = classification_meta_features(X_TRAIN.cpu().numpy(), Y_TRAIN.cpu().numpy())
        study = optuna.create_study(
            direction="maximize", storage=args.storage, study_name=args.study,
            load_if_exists=True,
            sampler=MetaSampler.from_warehouse(family="tabular-mlp", task_features=features,
                                               seed=args.seed),
            pruner=MetaPruner.from_warehouse(family="tabular-mlp", task_features=features))
    else:
        study = optuna.create_study(
            direction="maximize", storage=args.storage, study_name=args.study,
            load_if_exists=True, sampler=optuna.samplers.TPESampler(seed=args.seed),
            pruner=optuna.pruners.MedianPruner())

    study.optimize(objective, n_trials=args.trials)
    pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    print(f"best valid accuracy {study.best_value:.4f} after {len(study.trials)} trials "
          f"({pruned} pruned): {study.best_params}")


if __name__ == "__main__":
    main()
