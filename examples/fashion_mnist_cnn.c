/* The Keras seed model, line for line, on Fashion-MNIST:
 *
 *     model = Sequential()
 *     model.add(Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)))
 *     model.add(MaxPooling2D((2, 2)))
 *     model.add(Flatten())
 *     model.add(Dense(128, activation='relu'))
 *     model.add(Dense(10, activation='softmax'))
 *     model.compile(optimizer='adam', loss='sparse_categorical_crossentropy',
 *                   metrics=['accuracy'])
 *     model.fit(x_train, y_train, epochs=10)
 *
 * with Keras's defaults: Adam at 1e-3, batch size 32, pixels / 255, shuffled
 * every epoch, no augmentation, no validation split. The program around the
 * model (data, compile, fit, evaluate on the 10,000 test images, the time per
 * epoch, saving the model as safetensors) is examples/fashion_mnist.c, which
 * the second example shares.
 *
 *   ./fashion_mnist_cnn [--epochs N] [--batch N] [--seed N] [--train-samples N]
 *                       [--save PATH] [--quiet]
 *   CLGRAD_DEVICE=gpu ./fashion_mnist_cnn
 *
 * Exit status: 0 on success, 1 on an error (the message comes from
 * clg_last_error()), 2 on a bad command line. */
#include "fashion_mnist.h"

static clg_status build(clg_model *model, const float *dropout) {
    (void)dropout; /* the seed model has none */
    clg_status st;
    /* model.add(Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1))) */
    if ((st = clg_model_add(model, clg_layer_conv2d(32, 3, 3, CLG_ACT_RELU))) != CLG_OK) return st;
    /* model.add(MaxPooling2D((2, 2))) */
    if ((st = clg_model_add(model, clg_layer_max_pooling2d(2, 2))) != CLG_OK) return st;
    /* model.add(Flatten()) */
    if ((st = clg_model_add(model, clg_layer_flatten())) != CLG_OK) return st;
    /* model.add(Dense(128, activation='relu')) */
    if ((st = clg_model_add(model, clg_layer_dense(128, CLG_ACT_RELU))) != CLG_OK) return st;
    /* model.add(Dense(10, activation='softmax')) */
    return clg_model_add(model, clg_layer_dense(10, CLG_ACT_SOFTMAX));
}

int main(int argc, char **argv) {
    const fmnist_example ex = {
        .prog = "fashion_mnist_cnn",
        .about = "Trains the Keras seed CNN (Conv2D 32 3x3 relu, MaxPooling2D 2x2, Flatten,\n"
                 "Dense 128 relu, Dense 10 softmax; Adam 1e-3) on Fashion-MNIST and reports\n"
                 "the test accuracy.",
        .save = "fashion_mnist_cnn.safetensors",
        .build = build,
    };
    return fmnist_main(&ex, argc, argv);
}
