use deepnet_models::*;
use deepnet_nn::{Module, ParamStore};
use deepnet_tensor::{DType, Tensor};
use std::time::Instant;

#[test]
fn timing() {
    for name in ["resnet18", "googlenet", "resnet50", "alexnet", "vgg16"] {
        let t = Instant::now();
        let store = ParamStore::new(0);
        let m = build_conv_model(name, &[3, 224, 224], 1000, &store.root()).unwrap();
        let b = t.elapsed();
        let t = Instant::now();
        let w = check_input(m.as_ref(), &[3, 224, 224]).unwrap();
        let c = t.elapsed();
        eprintln!("{name}: build {b:?} check {c:?} params {} warnings {}", store.num_params(), w.len());
        for x in w.iter().take(4) { eprintln!("  {x}"); }
        if name == "resnet18" || name == "googlenet" {
            m.set_training(false);
            let t = Instant::now();
            let y = m.forward(&Tensor::zeros([1, 3, 64, 64], DType::F32).unwrap()).unwrap();
            eprintln!("  fwd64 {:?} {:?}", t.elapsed(), y.dims());
        }
    }
}
